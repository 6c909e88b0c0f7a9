"""How the server's and the bridge's processes run, set once at start-up
(see collector). Like observability, it imports neither of them."""
