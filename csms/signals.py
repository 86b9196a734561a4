"""Events between CSMS modules that must not import each other.

`change_settled(change_id, trigger)`: a credential change succeeded or failed, sent after
the commit. Campaigns move on at once instead of at their next beat (csms/tasks.py); the
credential records know nothing of campaigns.
"""
from django.dispatch import Signal

change_settled = Signal()
