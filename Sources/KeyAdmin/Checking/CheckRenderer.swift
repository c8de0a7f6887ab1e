import KeyCheck
import KeyStore

/// How `--check` writes what it finds: the heading once the check is sure to run, a result per
/// key as it comes (in number order), then the summary. One renderer for people, one for
/// `--json`.
protocol CheckRenderer {
    func begin(_ run: CheckRun, options: CheckOptions)
    func result(_ result: KeyCheckResult)
    func end(_ summary: CheckSummary, plan: CheckPlan, revive: Bool)
}
