print("ZMQBench: not yet")
