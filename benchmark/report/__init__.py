"""Render results.json into a self-contained HTML leaderboard (render), with embedding maps (maps)."""
