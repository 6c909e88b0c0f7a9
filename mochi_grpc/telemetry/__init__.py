"""What an operator sees: Prometheus metrics, OpenTelemetry traces, structured
logs. Called from the edges (interceptors) and through the domain's observer
interface (chat.observing); it holds no domain logic."""
