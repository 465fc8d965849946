"""The REST routes, one router per area (freqtrade's paths under ``/api/v1``)."""
