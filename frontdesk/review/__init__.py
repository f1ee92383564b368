"""The review-and-retrain loop: what the bot did not understand, labelled by staff, exported
as training data; versioned models behind an evaluation gate; drift of the live NLU."""
