print("Bench: nothing yet")
