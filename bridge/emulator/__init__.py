"""A local Azure SignalR Service emulator (serverless mode) that official clients accept.

Independent of the rest of the bridge: the bridge is judged against it. See README.md.
"""

from bridge.emulator.server import EmulatorServer, generate_access_key
from bridge.emulator.upstream import UpstreamRetry, UpstreamSettings, UpstreamTemplate

__all__ = ["EmulatorServer", "UpstreamRetry", "UpstreamSettings", "UpstreamTemplate", "generate_access_key"]
