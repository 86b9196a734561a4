"""OCPP-J framing and RPC bookkeeping: pure Python, no Django, no I/O."""
