"""Assembles the Dagster project: definitions, jobs, schedules, environment profiles."""
