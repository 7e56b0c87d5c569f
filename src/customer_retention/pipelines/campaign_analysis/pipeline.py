"""Campaign analysis: each retention campaign against its control group."""

from kedro.pipeline import Pipeline, node

from . import nodes, uplift


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.build_campaign_outcomes,
                inputs=[
                    "interventions@pandas",
                    "customer_timeline",
                    "customer_snapshots",
                    "params:campaign_analysis",
                ],
                outputs="campaign_outcomes",
                name="build_campaign_outcomes",
            ),
            node(
                nodes.analyse_campaigns,
                inputs=["campaign_outcomes", "params:campaign_analysis"],
                outputs="campaign_effects",
                name="analyse_campaigns",
            ),
            node(
                uplift.fit_uplift_models,
                inputs=[
                    "campaign_outcomes",
                    "customer_value",  # the CLV stage's, read once it is written
                    "campaign_ground_truth",
                    "params:campaign_analysis",
                ],
                outputs=["uplift_models", "uplift_metrics"],
                name="fit_uplift_models",
            ),
            node(
                nodes.plot_campaign_survival,
                inputs=["campaign_outcomes", "campaign_effects"],
                outputs="campaign_survival_chart",
                name="plot_campaign_survival",
            ),
        ]
    )
