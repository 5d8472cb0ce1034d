"""Render results.json into a self-contained HTML leaderboard."""

from benchmark.report.render import render_leaderboard

__all__ = ["render_leaderboard"]
