"""The course's autograder: exercises (exercises/<name>/), substitution of a
student's code for the project's own, and the grader behind `gosched-emu grade`."""
from .exercise import Context, Exercise, GradeFailure, load_exercise, list_exercises

__all__ = ["Context", "Exercise", "GradeFailure", "load_exercise", "list_exercises"]
