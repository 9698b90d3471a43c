// The shared half of ../strimzi/validate.mjs and ../argocd/validate.mjs: checks custom resources
// in `kustomize build` output against a @kubernetes-models/* npm package, offline.
//
// Such a package brings both halves of a schema check:
//   1. compiled JSON-schema validators (types, enums, required fields, patterns, bounds);
//   2. TypeScript types of the same schemas: type-checking each resource as an object literal
//      makes every unknown field an error (TypeScript's excess-property check), which the
//      validators alone allow, as the CRDs do.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

// Parse `--modules NODE_MODULES FILE.yaml...`; exits with a usage line when they are missing.
export function parseArgs(argv) {
  const args = argv.slice(2);
  const modIndex = args.indexOf("--modules");
  if (modIndex < 0 || args.length < modIndex + 3) {
    console.error("usage: validate.mjs --modules NODE_MODULES FILE.yaml...");
    process.exit(2);
  }
  return { modules: args[modIndex + 1],
           files: args.filter((_, i) => i !== modIndex && i !== modIndex + 1) };
}

// Validate every resource whose apiVersion matches `apiVersion` (a RegExp) against `pkg`'s
// models, which must serve it as `served` (e.g. "v1"); exits 1 on any failure.
//   label: the family's name in messages; requireSome: finding none is a failure too.
export async function validateResources({ modules, files, pkg, apiVersion, served, label,
                                          requireSome = false }) {
  const { parseAllDocuments } = await import(pathToFileURL(join(modules, "yaml/dist/index.js")));
  // Collect the resources of this kind family, remembering where each came from.
  const resources = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      const obj = doc.toJS();
      if (obj && apiVersion.test(obj.apiVersion ?? "")) {
        resources.push({ file, obj });
      }
    }
  }

  let failures = 0;
  const invalid = new Set();
  const fail = (r, message) => {
    failures += 1;
    invalid.add(r);
    console.error(`${r.file} - ${r.obj.kind} ${r.obj.metadata?.name} is invalid: ${message}`);
  };

  // 1. The compiled validators, one model class per apiVersion and kind.
  for (const r of resources) {
    const [group, version] = r.obj.apiVersion.split("/");
    const modelFile = join(modules, pkg, group, version, `${r.obj.kind}.js`);
    if (version !== served || !existsSync(modelFile)) {
      fail(r, `${r.obj.apiVersion} ${r.obj.kind} is not in ${label}'s API (${served})`);
      continue;
    }
    r.modelFile = modelFile;
    const Model = (await import(pathToFileURL(modelFile)))[r.obj.kind];
    try {
      new Model(r.obj).validate();
    } catch (err) {
      fail(r, err.message);
    }
  }

  // 2. Unknown fields: type-check every resource against its interface.
  const checkable = resources.filter((r) => r.modelFile);
  const lines = [];
  const owner = []; // line number (1-based) -> resource
  const imports = new Map();
  for (const r of checkable) {
    const [group, version] = r.obj.apiVersion.split("/");
    const alias = `I_${group.split(".")[0]}_${version}_${r.obj.kind}`;
    imports.set(alias, `import type { I${r.obj.kind} as ${alias} } from "${pkg}/${group}/${version}/${r.obj.kind}";`);
    r.alias = alias;
  }
  for (const line of imports.values()) { lines.push(line); owner.push(null); }
  checkable.forEach((r, i) => {
    const body = `export const r${i}: ${r.alias} = ${JSON.stringify(r.obj, null, 2)};`.split("\n");
    for (const line of body) { lines.push(line); owner.push(r); }
  });
  const work = dirname(modules);
  writeFileSync(join(work, "check.ts"), lines.join("\n") + "\n");
  writeFileSync(join(work, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
                       target: "es2022", skipLibCheck: true, types: [] },
    files: ["check.ts"],
  }));
  try {
    execFileSync(process.execPath, [join(modules, "typescript/bin/tsc"), "-p", "tsconfig.json"],
                 { cwd: work, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const out = `${err.stdout ?? ""}${err.stderr ?? ""}`;
    for (const line of out.split("\n").filter((l) => l.trim())) {
      const m = /^check\.ts\((\d+),\d+\): error TS\d+: (.*)$/.exec(line);
      const r = m ? owner[Number(m[1]) - 1] : null;
      if (r) fail(r, m[2].replace(/ in type '[\s\S]*$/, " in its schema"));
      else if (!/^\s/.test(line)) { failures += 1; console.error(`tsc: ${line}`); }
    }
  }

  if (requireSome && !resources.length) {
    failures += 1;
    console.error(`no ${label} resource found`);
  }
  console.log(`${label}: ${resources.length} resources found in ${files.length} files - ` +
              `Valid: ${resources.length - invalid.size}, Invalid: ${invalid.size}`);
  process.exit(failures ? 1 : 0);
}
