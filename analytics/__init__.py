"""Lead scoring, win probability, forecasting, process mining and charts: pure functions over data frames."""
