"""The one send engine: claim, build, sign, send and record every outgoing message."""
