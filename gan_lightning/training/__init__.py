"""What the shared adversarial step needs besides the step itself: its options, the update
mechanics, the non-finite guard, the logged means, the checkpointed state, and the one adapter
over Lightning's private names."""
