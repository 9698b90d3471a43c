"""ExamGate's HTTP API: check-ins and face comparisons over REST, beside Kafka.

For kiosks, tablets and registrars' systems that cannot speak Kafka. A check-in
posted here is published as a CheckIn exactly as a gate would, and answered with
the Decision the processors made; the API never decides by itself. ``/v1/compare``
answers in process with the champion model. Run it with ``examgate api``.
"""
