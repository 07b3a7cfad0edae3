"""Steps 5-7 of the counter: the application form, e-signature, seal, decision and printing.

Everything here reads the session's facts from its hash chain (:mod:`.session_facts`) and
writes every audited fact back into it as a session event.
"""
