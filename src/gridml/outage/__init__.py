"""Outage management: detect, locate and size outages from AMI meter events (`detector`),
replay a workspace's history (`replay`) and score against a synthetic zone's truth (`score`)."""
