"""Panel presets shared by the livebenefits dashboards: every panel queries ``$datasource``."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (DataSourceRef, VariableOption, VariableRefresh,
                                                     VariableSort)

# The provisioned data source (provisioning/datasources/livebenefits.yml): the
# $datasource variable starts on it, and any other Prometheus can be picked instead.
DEFAULT_DATASOURCE_UID = "livebenefits-prometheus"
DEFAULT_DATASOURCE_NAME = "Prometheus (livebenefits)"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# Grafana's units: counts per minute, and yuan.
PER_MINUTE = "cpm"
YUAN = "currencyCNY"
_REF_IDS = "ABCDEFGHIJ"

PanelBuilder = timeseries.Panel | stat.Panel


def datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(VariableOption(selected=True, text=DEFAULT_DATASOURCE_NAME, value=DEFAULT_DATASOURCE_UID))
    )


def label_variable(name: str, label: str, metric: str) -> dashboard.QueryVariable:
    """A multi-value variable over a label's values, "All" meaning ``.*``."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def query(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .range()
        .ref_id(ref_id)
        .datasource(DATASOURCE)
    )


def timeseries_panel(title: str, description: str, unit: str, targets: list[tuple[str, str]],
                     *, stacked: bool = False) -> timeseries.Panel:
    """Lines, one per series; ``targets`` are (expr, legend) pairs."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .line_width(1)
        .fill_opacity(20 if stacked else 10)
        .show_points(common.VisibilityMode.NEVER)
        .draw_style(common.GraphDrawStyle.LINE)
        .line_interpolation(common.LineInterpolation.SMOOTH)
        .span_nulls(False)
        .stacking(common_builder.StackingConfig().mode(
            common.StackingMode.NORMAL if stacked else common.StackingMode.NONE))
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
        .span(12)
        .height(8)
    )
    if len(targets) > len(_REF_IDS):
        raise ValueError(f"{title}: {len(targets)} queries, at most {len(_REF_IDS)}")
    for ref_id, (expr, legend) in zip(_REF_IDS, targets):
        panel = panel.with_target(query(expr, legend, ref_id))
    return panel


def by_tier(title: str, description: str, unit: str, expr: str, *, stacked: bool = True) -> timeseries.Panel:
    """One series per tier (the query must keep the ``tier`` label)."""
    return timeseries_panel(title, description, unit, [(expr, "{{tier}}")], stacked=stacked)


def stat_panel(title: str, description: str, unit: str, expr: str, *, instant: bool = False) -> stat.Panel:
    """One big number: the last value of ``expr``; ``instant`` for totals over the time range."""
    target = query(expr, title)
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .graph_mode(common.BigValueGraphMode.NONE if instant else common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(target.instant() if instant else target)
        .span(6)
        .height(4)
    )
