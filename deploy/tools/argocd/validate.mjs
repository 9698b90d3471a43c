// Offline validation of Argo CD custom resources (Application, ApplicationSet, AppProject) in
// `kustomize build deploy/argocd` output, with ../kubernetes-models.mjs like the Strimzi kinds.
//
// Argo CD's CRDs are release assets (not fetchable here). The npm package
// @kubernetes-models/argo-cd is generated from Argo CD 3's Go API types
// (github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1).
//
//   node validate.mjs --modules .cache/tools/argocd/node_modules build1.yaml ...
import { parseArgs, validateResources } from "../kubernetes-models.mjs";

await validateResources({
  ...parseArgs(process.argv), pkg: "@kubernetes-models/argo-cd", label: "Argo CD",
  apiVersion: /^argoproj\.io\/[a-z0-9]+$/,
  // Argo CD 3 serves these kinds as v1alpha1 (other argoproj.io kinds are Argo Workflows').
  served: "v1alpha1", requireSome: true,
});
