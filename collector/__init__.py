"""The collector: MQTT in; validated time series, live state and availability out."""
