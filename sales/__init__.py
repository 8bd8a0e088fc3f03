"""The sales domain: lead capture, dedupe, assignment, the deal stage machine, tasks, permissions, sends.

Pure functions over a SQLModel session. No LLM, no front door: every rule a user relies on lives and is tested here.
"""
