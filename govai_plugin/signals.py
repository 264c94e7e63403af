"""Signals other parts of the app (and portals) may listen to."""

from django.dispatch import Signal

#: Sent by the generation task when an answer job reached a final status (``job=``).
answer_final = Signal()
