print("deltasync-bench: not yet")
