"""Shared building blocks of the DeepLab / CRF script suite (VOC I/O, records, metrics, CRF, voting, flags)."""
