/** The operations of operations.graphql by name, each with the subgraph that answers it (the
 * `# subgraph:` comment above it). Types come from generated.ts (`npm run codegen`). */
import { gql, type Subgraph } from "../api";
import type {
  CostSeriesQuery,
  CostSeriesQueryVariables,
  PeriodsQuery,
  PeriodsQueryVariables,
  RecommendationsQuery,
  RecommendationsQueryVariables,
} from "./generated";
import source from "./operations.graphql?raw";

const ops = new Map<string, { subgraph: Subgraph; text: string }>();
for (const chunk of source.split(/^# subgraph: /m).slice(1)) {
  const subgraph = chunk.slice(0, chunk.indexOf("\n")).trim() as Subgraph;
  const text = chunk.slice(chunk.indexOf("\n") + 1);
  const name = /^(?:query|mutation)\s+(\w+)/m.exec(text)?.[1];
  if (name) ops.set(name, { subgraph, text });
}

interface Operations {
  Recommendations: [RecommendationsQuery, RecommendationsQueryVariables];
  CostSeries: [CostSeriesQuery, CostSeriesQueryVariables];
  Periods: [PeriodsQuery, PeriodsQueryVariables];
}

export function run<N extends keyof Operations>(name: N, variables: Operations[N][1]): Promise<Operations[N][0]> {
  const op = ops.get(name);
  if (!op) throw new Error(`unknown GraphQL operation ${name}`);
  return gql<Operations[N][0], Operations[N][1]>(op.subgraph, op.text, variables);
}
