"""The enroll slice: enrollment requests in, encrypted templates and images stored."""
