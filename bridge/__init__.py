"""The HTTP bridge: the REST + Server-Sent-Events API over the mochi.v1 gRPC service."""
