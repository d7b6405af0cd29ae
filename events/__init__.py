"""Events: dialogue tables, datathons and data-for-development collaborations."""
