"""Truck detectors. Each turns a BGR frame into `supervision.Detections` (xyxy, confidence, class_id)."""
