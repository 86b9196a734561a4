"""What each OCPP action a station sends does. One module per version."""
