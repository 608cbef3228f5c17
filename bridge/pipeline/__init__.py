"""From Kafka records to deliveries: faust agents, ordered lanes, commit tracking, dead-letter."""
