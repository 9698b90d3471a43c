"""The exam-day simulator: seeded probe transforms, scenario plans and evaluation reports.

Everything in this package is pure and offline; the streaming driver that sends
the planned check-ins through Kafka and collects decisions calls into it.
"""
