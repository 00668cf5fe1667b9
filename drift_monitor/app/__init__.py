"""The application layer: the only place that wires detection, storage, providers and channels together."""  # noqa: E501
