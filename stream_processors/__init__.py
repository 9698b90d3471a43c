"""Stream processors on the exactly-once Kafka loop: verify, enroll and model-reload slices."""
