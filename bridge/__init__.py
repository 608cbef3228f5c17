"""signalr-bridge: consume Kafka topics and deliver routed messages to Azure SignalR Service."""

__version__ = "0.1.0"
