"""Enrollments: prospects in campaigns (one per prospect per campaign), their statuses, summary and change feed."""
