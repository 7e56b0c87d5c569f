"""Feedback themes: themes in the comments of the feedback table, churn by theme."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.select_comments,
                inputs=["feedback@pandas", "params:feedback_themes"],
                outputs=["feedback_comments", "feedback_comment_selection"],
                name="select_comments",
            ),
            node(
                nodes.find_themes,
                inputs=[
                    "feedback_comments",
                    "feedback_comment_selection",
                    "params:feedback_themes",
                ],
                outputs=["comment_themes", "comment_theme_summary"],
                name="find_themes",
            ),
            node(
                nodes.theme_trend,
                inputs=["comment_themes", "params:feedback_themes"],
                outputs="comment_theme_trend",
                name="theme_trend",
            ),
            node(
                nodes.churn_by_theme,
                inputs=["comment_themes", "customer_timeline", "params:feedback_themes"],
                outputs="churn_by_comment_theme",
                name="churn_by_theme",
            ),
            node(
                nodes.themes_against_reasons,
                inputs=["comment_themes", "params:feedback_themes"],
                outputs="comment_themes_by_reason",
                name="themes_against_reasons",
            ),
            node(
                nodes.build_latest_theme,
                inputs=[
                    "feedback_comments",
                    "feedback_comment_selection",
                    "snapshot_spine",
                    "params:feedback_themes",
                ],
                outputs=["latest_theme_features", "latest_theme_summary", "latest_theme_model"],
                name="build_latest_theme",
            ),
            node(
                nodes.summarise_themes,
                inputs=[
                    "comment_theme_summary",
                    "comment_theme_trend",
                    "churn_by_comment_theme",
                    "comment_themes_by_reason",
                    "latest_theme_summary",
                    "comment_themes",
                    "feedback_themes_ground_truth",
                ],
                outputs="comment_themes_report",
                name="summarise_themes",
            ),
        ]
    )
