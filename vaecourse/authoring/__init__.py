"""Maintainer tooling that learners never import: the exercise build (:mod:`~vaecourse.authoring.exercises`),
the course discovered from its files (:mod:`~vaecourse.authoring.course`) and the static course site
(:mod:`~vaecourse.authoring.site`). Reached from the command line (``build-exercises``, ``site``) and the tests."""
