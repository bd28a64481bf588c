"""What tests share: data builders, the AppTest helpers, fake providers and recorded answers, the worlds several test modules build. No test module imports another."""
