"""gRPC servicers: translate mochi.v1 messages to and from the domain."""
