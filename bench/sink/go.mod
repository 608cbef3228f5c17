module signalr-bridge/bench/sink

go 1.21
