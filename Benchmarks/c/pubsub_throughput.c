/*
 * PUB/SUB throughput over tcp loopback, written directly against libzmq.
 * It is the baseline for ZMQBench, which runs the same workload through the
 * Swift wrapper: one process, a publisher thread and a subscriber thread,
 * 3-frame messages (20-byte topic, 60-byte header, 40-byte body), high-water
 * marks off so nothing is dropped. The subscriber times from the first data
 * message to the last.
 *
 *   cc -O2 -o pubsub_throughput pubsub_throughput.c -lzmq -lpthread
 *   ./pubsub_throughput [messages]      prints: messages_per_second <rate>
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static const char topic[] = "policy:alice:error  "; /* 20 bytes */
static char header[60];
static char body[40];

static void *context;
static char endpoint[256];
static long messages;
static atomic_int subscribed;
static double elapsed_seconds;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, zmq_strerror(zmq_errno()));
        exit(1);
    }
}

/* Receives one multipart message; returns its number of frames and copies
 * nothing. Sets *sync when the header frame is "SYNC". */
static int receive_message(void *socket, zmq_msg_t *msg, int *sync) {
    int frames = 0;
    int more = 1;
    *sync = 0;
    while (more) {
        check(zmq_msg_recv(msg, socket, 0), "zmq_msg_recv");
        if (frames == 1 && zmq_msg_size(msg) == 4 && memcmp(zmq_msg_data(msg), "SYNC", 4) == 0) {
            *sync = 1;
        }
        more = zmq_msg_more(msg);
        frames++;
    }
    return frames;
}

static void *subscriber(void *unused) {
    (void)unused;
    void *sub = zmq_socket(context, ZMQ_SUB);
    int zero = 0;
    check(zmq_setsockopt(sub, ZMQ_RCVHWM, &zero, sizeof zero), "RCVHWM");
    check(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, 20), "SUBSCRIBE");
    check(zmq_connect(sub, endpoint), "zmq_connect");
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int sync = 0;
    while (!sync) { /* the first sync message proves the subscription works */
        receive_message(sub, &msg, &sync);
    }
    atomic_store(&subscribed, 1);
    long received = 0;
    double start = 0;
    while (received < messages) {
        receive_message(sub, &msg, &sync);
        if (sync) continue;
        if (received == 0) start = now();
        received++;
    }
    elapsed_seconds = now() - start;
    zmq_msg_close(&msg);
    zmq_close(sub);
    return NULL;
}

static void send_message(void *pub, const char *second, size_t second_size) {
    check(zmq_send(pub, topic, 20, ZMQ_SNDMORE), "zmq_send");
    check(zmq_send(pub, second, second_size, ZMQ_SNDMORE), "zmq_send");
    check(zmq_send(pub, body, sizeof body, 0), "zmq_send");
}

int main(int argc, char **argv) {
    messages = argc > 1 ? atol(argv[1]) : 1000000;
    memset(header, 'h', sizeof header);
    memset(body, 'b', sizeof body);
    context = zmq_ctx_new();
    void *pub = zmq_socket(context, ZMQ_PUB);
    int zero = 0;
    check(zmq_setsockopt(pub, ZMQ_SNDHWM, &zero, sizeof zero), "SNDHWM");
    check(zmq_bind(pub, "tcp://127.0.0.1:*"), "zmq_bind");
    size_t size = sizeof endpoint;
    check(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, endpoint, &size), "LAST_ENDPOINT");

    pthread_t thread;
    pthread_create(&thread, NULL, subscriber, NULL);
    while (!atomic_load(&subscribed)) {
        send_message(pub, "SYNC", 4);
        usleep(1000);
    }
    for (long i = 0; i < messages; i++) {
        send_message(pub, header, sizeof header);
    }
    pthread_join(thread, NULL);
    zmq_close(pub);
    zmq_ctx_term(context);
    printf("messages_per_second %.0f\n", (double)(messages - 1) / elapsed_seconds);
    return 0;
}
