"""The upstream edge: the service's webhooks for client events, produced to Kafka by inbound routes.

Import submodules directly: ``receiver`` brings in aiohttp and aiokafka, which ``check`` does not need.
"""
