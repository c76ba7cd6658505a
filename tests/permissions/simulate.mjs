// Evaluates IAM requests against policies with @cloud-copilot/iam-simulate (test-only dev
// dependency, AGPL-3.0-or-later: it never ships in the Lambda asset or the CDK app).
//
// stdin:  {"simulations": [{"request": {...}, "identityPolicies": [...], "resourcePolicy": {...}|null}]}
// stdout: {"results": [{"decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied"|"Error",
//                       "errors": ..., "used": [{"policy", "sid", "actions": [...], "resources": [...]}]}]}
// "used" lists, per Allow statement that matched, which of its actions and resources matched:
// the Python side turns that into the table of grants no call exercised.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))

function asList(value) {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

function matched(statementAnalyses, policyName) {
  return (statementAnalyses || []).map((analysis) => {
    const explain = analysis.explain || {}
    return {
      policy: analysis.policyId || policyName,
      sid: explain.identifier,
      actions: asList(explain.actions).filter((a) => a.matches).map((a) => a.action),
      resources: asList(explain.resources).filter((r) => r.matches).map((r) => r.resource),
    }
  })
}

const results = []
for (const simulation of input.simulations) {
  const response = await runSimulation(
    {
      identityPolicies: simulation.identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: simulation.resourcePolicy || undefined,
      request: simulation.request,
    },
    {},
  )
  if (response.resultType === 'error') {
    results.push({ decision: 'Error', errors: response.errors, used: [] })
    continue
  }
  // An action without resource types is requested on "*": the simulator answers "wildcard",
  // one result per resource pattern, with the overall decision.
  const analyses =
    response.resultType === 'single'
      ? [response.result.analysis || {}]
      : (response.results || []).map((r) => r.analysis || {})
  results.push({
    decision: response.overallResult,
    errors: null,
    used: analyses.flatMap((analysis) => [
      ...matched(analysis.identityAnalysis?.allowStatements),
      ...matched(analysis.resourceAnalysis?.allowStatements, 'resource-policy'),
    ]),
  })
}
process.stdout.write(JSON.stringify({ results }))
