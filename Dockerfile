# One image for both processes; compose picks the command (dist/api.mjs or dist/worker.mjs).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages packages
# Dev dependencies too: esbuild builds the bundles below.
RUN npm ci --include=dev --no-audit --no-fund
COPY . .
RUN npm run build
ENV NODE_ENV=production
USER node
EXPOSE 3000
CMD ["node", "--enable-source-maps", "--heap-growing-percent=50", "dist/api.mjs"]
