"""Department connectors: the departments' own systems that issue documents without a clerk.

A self-service service (catalogue ``self_service``) asks its department's connector for the
applicant's document once their identity is verified; :mod:`.connector` is the interface and
its signed HTTP implementation, :mod:`.sandbox` a department service for tests and the demo.
"""
