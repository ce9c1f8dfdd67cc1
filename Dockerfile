# One image for both processes; compose picks the command (api or worker).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages packages
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
USER node
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/api.mjs"]
